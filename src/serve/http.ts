// The HTTP plumbing of the OpenAI-compatible server: errors in OpenAI's JSON shape, size-limited JSON
// bodies, JSON responses and server-sent events.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error the client caused (or a busy server): sent as `{error: {message, type, param, code}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 for one request field. */
export function invalidParam(param: string, message: string, code: string | null = null): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

/**
 * The request body parsed as a JSON object. A body over `maxBytes` is a 413: refused from its
 * Content-Length when it declares one, else as soon as the bytes read pass the limit.
 */
/** The client closed the connection before its request body was complete: nobody to answer. */
export class ClientGone extends Error {
  constructor(req: IncomingMessage) {
    super(`the client went away before sending the whole request body (${req.method} ${req.url})`);
    this.name = 'ClientGone';
  }
}

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const tooLarge = () => new ApiError(413, `the request body is larger than the server's limit of ${maxBytes} bytes`, 'invalid_request_error', null, 'request_too_large', { connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) throw tooLarge();
  // Events rather than for-await: leaving an async iterator early would destroy the socket, and with it the 413.
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume(); // discard the rest; the response closes the connection
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    const gone = () => reject(new ClientGone(req));
    req.once('error', gone);
    req.once('close', () => {
      if (!req.complete) gone();
    });
  });
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, `the request body is not valid JSON (${(err as Error).message})`, 'invalid_request_error', null, 'invalid_json');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_json');
  return body as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function sendError(res: ServerResponse, error: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, error.body(), error.headers);
}

/** A server-sent-events response as OpenAI streams it: `data: {json}` events, then `data: [DONE]`. */
export class EventStream {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  }

  send(value: unknown): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** Ends the stream; an error after events have gone out is one last event, as OpenAI sends it. */
  end(error?: ApiError): void {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (error) this.send(error.body());
    else this.res.write('data: [DONE]\n\n');
    this.res.end();
  }
}
