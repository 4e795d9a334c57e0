/** Typed HTTP and WebSocket client for the Tacho API. */
export { API_PREFIX } from '@tacho/protocol';
