import type { Aedes } from 'aedes';
import { createWebSocketStream } from 'ws';
import type { HttpServer } from '../http/server.js';

/**
 * MQTT over WebSocket at `/mqtt` on the HTTP port, for browsers and networks that only pass HTTP(S).
 * Authentication and topic rules are the broker's own, as over TCP.
 */
export async function registerMqttWebSocket(http: HttpServer, aedes: Aedes): Promise<void> {
  http.get('/mqtt', { websocket: true, schema: { hide: true } }, (socket, request) => {
    // Nagle's algorithm would hold each small PUBACK back for the peer's delayed ACK (~40 ms).
    request.raw.socket.setNoDelay(true);
    const stream = createWebSocketStream(socket);
    stream.on('error', () => stream.destroy());
    aedes.handle(stream, request.raw);
  });
}
