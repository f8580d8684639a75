import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { AppConfig } from './config.js';
import { AppError, errorMessage } from './errors.js';

/** Redirects followed at most; each one is checked like the first request. */
export const MAX_REDIRECTS = 3;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Whether a request may go to `address`: global unicast only. Loopback, private, link-local
 * (169.254.169.254, the cloud metadata service, among them), unique-local, CGNAT, multicast,
 * reserved and the IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo) are not.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return isPublicAddress((parsed as ipaddr.IPv6).toIPv4Address().toString());
  }
  return parsed.range() === 'unicast';
}

const refused = (message: string) => new AppError('FETCH_REFUSED', message);

/**
 * DNS lookup that fails when any address of the name is not public. The socket connects to
 * the address this returns, so the address checked is the address reached: a name that
 * resolves elsewhere on a second lookup (DNS rebinding) gets nowhere.
 */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, options, (err, address, family) => {
    if (err) return callback(err, address as string, family);
    const all: LookupAddress[] = Array.isArray(address) ? address : [{ address, family }];
    const bad = all.find((a) => !isPublicAddress(a.address));
    if (bad) {
      return callback(
        refused(`${hostname} resolves to ${bad.address}, an address that may not be reached`),
        '',
      );
    }
    callback(null, address as string, family);
  });
};

export interface OutboundRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Largest response body read, bytes; a larger one fails with FETCH_TOO_LARGE. */
  maxBytes: number;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

/**
 * The one way out of the services (webhooks, image URLs): http and https only, public addresses
 * only (or none, OUTBOUND_ALLOW_PUBLIC=false) unless the target is on OUTBOUND_ALLOWED_HOSTS, checked again on each of at most 3
 * redirects; a connect timeout, a whole-request timeout and a cap on the body read. A refused
 * address is refused before any packet is sent to it. Failures are AppErrors (FETCH_*).
 */
export class OutboundClient {
  private readonly allowed: Set<string>;
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };

  constructor(private readonly cfg: AppConfig['outbound']) {
    this.allowed = new Set(cfg.allowedHosts.map((h) => h.toLowerCase()));
  }

  /** An allow-list entry is a host (any port) or a host:port (that port only). */
  isAllowed(url: URL): boolean {
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return this.allowed.has(url.hostname) || this.allowed.has(`${url.hostname}:${port}`);
  }

  async request(req: OutboundRequest): Promise<OutboundResponse> {
    const signal = AbortSignal.timeout(this.cfg.timeoutMs);
    let url = this.parse(req.url);
    let { method, body } = req;
    for (let redirects = 0; ; redirects++) {
      const res = await this.once(url, method, req, body, signal);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.status) || !location) return res;
      if (redirects >= MAX_REDIRECTS) {
        throw refused(`More than ${MAX_REDIRECTS} redirects`);
      }
      url = this.parse(location, url);
      // As browsers do: 303, and 301/302 after a POST, continue as a GET without the body.
      if (res.status === 303 || (method === 'POST' && res.status < 307)) {
        method = 'GET';
        body = undefined;
      }
    }
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  private parse(raw: string, base?: URL): URL {
    let url: URL;
    try {
      url = new URL(raw, base);
    } catch {
      throw refused(`Not a URL: ${raw}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw refused(`Only http and https URLs are fetched, not ${url.protocol}`);
    }
    return url;
  }

  private once(
    url: URL,
    method: OutboundRequest['method'],
    req: OutboundRequest,
    body: OutboundRequest['body'],
    signal: AbortSignal,
  ): Promise<OutboundResponse> {
    const trusted = this.isAllowed(url);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // An address literal skips DNS, so the lookup below would never see it.
    if (!trusted && isIP(host) && !isPublicAddress(host)) {
      return Promise.reject(refused(`${host} is an address that may not be reached`));
    }
    if (!trusted && !this.cfg.allowPublic) {
      return Promise.reject(refused(`${url.host} is not on the outbound allow-list`));
    }
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        request.destroy();
        reject(this.classify(err, url, signal));
      };
      const request = lib.request(url, {
        method,
        headers: req.headers,
        agent: this.agents[url.protocol as 'http:' | 'https:'],
        signal,
        ...(!trusted && { lookup: guardedLookup }),
      });
      let connectTimer: NodeJS.Timeout | undefined;
      request.on('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(
          () => fail(new AppError('FETCH_TIMEOUT', `Connecting to ${url.host} took too long`)),
          this.cfg.connectTimeoutMs,
        );
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      request.on('error', fail);
      request.on('response', (res) => {
        const declared = Number(res.headers['content-length']);
        if (declared > req.maxBytes) {
          res.destroy();
          return fail(tooLarge(req.maxBytes));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > req.maxBytes) {
            res.destroy();
            return fail(tooLarge(req.maxBytes));
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            url: url.href,
          });
        });
      });
      request.end(body);
    });
  }

  private classify(err: unknown, url: URL, signal: AbortSignal): AppError {
    if (err instanceof AppError) return err;
    if (signal.aborted) {
      return new AppError('FETCH_TIMEOUT', `${url.host} did not answer within the time limit`);
    }
    return new AppError('FETCH_FAILED', `${url.host}: ${errorMessage(err)}`, { cause: err });
  }
}

const tooLarge = (maxBytes: number) =>
  new AppError('FETCH_TOO_LARGE', `The response is larger than ${maxBytes} bytes`);
