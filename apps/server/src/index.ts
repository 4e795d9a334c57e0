export { type App, type AppOptions, createApp } from './app.js';
export { type Config, configVariables, loadConfig } from './config.js';
export { openStorage, type Storage } from './db/index.js';
export { runVaultRotate, type VaultRotateCommand } from './features/vault/command.js';
export { StartupError } from './lib/errors.js';
export { runServer } from './main.js';
