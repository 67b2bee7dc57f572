import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Names a browser never resolves through public DNS, so no other site can be behind them. */
const LOOPBACK_NAMES = ['localhost'];

/**
 * The host name of a Host header value ("example.com:8000" -> "example.com", "[::1]:80" -> "[::1]"),
 * lower-cased and without a trailing dot; null when it is not a host[:port] at all.
 */
export function hostNameOf(hostHeader: string): string | null {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]/@\s]+)(?::(\d{1,5}))?$/i.exec(hostHeader.trim());
  if (!m) return null;
  return m[1].toLowerCase().replace(/\.$/, '');
}

/** An address or name as it appears in a Host header: IPv6 addresses in brackets, lower case. */
function asHostName(name: string): string {
  const n = name.trim().toLowerCase().replace(/\.$/, '');
  return isIP(n) === 6 ? `[${n}]` : n;
}

function isIpLiteral(hostName: string): boolean {
  return isIP(hostName.startsWith('[') ? hostName.slice(1, -1) : hostName) !== 0;
}

/**
 * Whether requests naming `hostName` in their Host header are answered. Allowed: `localhost` and
 * its subdomains, the address the service is bound to, every IP address, and the `extra` names
 * (`.example.com` also allows every subdomain of example.com; `*` allows any name).
 *
 * Why IP addresses are safe while names are not: DNS rebinding points a name the attacker owns at
 * this service, so the browser sends the attacker's name as Host while treating the page and the
 * service as one origin. A browser sends an IP address as Host only when the page itself addressed
 * the IP, and then the same-origin policy holds (and the origin guard refuses its writes).
 */
export function isAllowedHost(hostName: string, boundAddress: string, extra: readonly string[]): boolean {
  if (extra.includes('*')) return true;
  if (isIpLiteral(hostName)) return true;
  if (LOOPBACK_NAMES.some((n) => hostName === n || hostName.endsWith(`.${n}`))) return true;
  if (hostName === asHostName(boundAddress)) return true;
  return extra.some((entry) => {
    const e = asHostName(entry);
    return e.startsWith('.') ? hostName === e.slice(1) || hostName.endsWith(e) : hostName === e;
  });
}

/**
 * An onRequest hook refusing (421, JSON detail) a request whose Host header names a host the
 * service does not answer for: the defence against DNS rebinding, under which any web page could
 * otherwise read and change a service listening on loopback without an API key. A request
 * without a Host header (HTTP/1.0, raw sockets) comes from no browser and passes.
 */
export function hostGuard(boundAddress: string, allowedHosts: readonly string[]) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.host;
    if (header === undefined) return;
    const name = hostNameOf(header);
    if (name !== null && isAllowedHost(name, boundAddress, allowedHosts)) return;
    const shown = header.length > 100 ? `${header.slice(0, 100)}...` : header;
    void reply.code(421).send({
      detail: `Host ${JSON.stringify(shown)} is not served here: the service answers for localhost, IP addresses and ${asHostName(boundAddress)}; add the name to QUANTKIT_ALLOWED_HOSTS (--allowed-hosts) to serve it`,
    });
    return reply;
  };
}
