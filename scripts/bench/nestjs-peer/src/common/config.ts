/** Reading the environment: the same variable names as the Rust binaries use. */

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} must be set`);
  }
  return value;
}

export function intEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') {
    return fallback;
  }
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new Error(`${name} must be a whole number, not ${JSON.stringify(value)}`);
  }
  return parsed;
}

/** `host:port` (LISTEN_ADDR) split for `app.listen(port, host)`. */
export function listenAddress(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`LISTEN_ADDR must be host:port, not ${JSON.stringify(value)}`);
  }
  return { host, port };
}
