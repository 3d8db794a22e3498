/**
 * One handshake initiation captured from stock wireguard-go (Debian's package, 2026-12-04):
 * its peer's public key was SERVER_PUBLIC_KEY and the 148 bytes arrived on a UDP socket, as sent.
 * A golden vector for mac1 (computed by wireguard-go with the server's public key only).
 */
export const WIREGUARD_GO_SERVER_PUBLIC_KEY = 'k3Z3VeVwvnAXBP37o7NmKZxkIaXhO2h/bXIUnWnFPTs=';
export const WIREGUARD_GO_INITIATION_HEX =
  '0100000060d37a7c8f9bfb121bde555bef42702c3e7463be6ecf71dc750029cb050cb150d4d88b1705be4c920626bb45f3da52f6421d734a22c2f9583b21bc395365265afc8473b4ec0c'
  + '8b3098a955dbe7b5bfc6ee82cea4758a670be3fa6b3bad2b7085e459f92409fe963346b63fd073fb0fd0f9cdc63c7d11deb409ff8b334b533b7500000000000000000000000000000000';
