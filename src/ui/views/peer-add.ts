import { useEffect, useState } from 'preact/hooks';
import QRCode from 'qrcode';
import type { Api } from '../api.js';
import { configFileName, renderClientConfig } from '../client-config.js';
import { html } from '../html.js';
import { generateKeyPair } from '../keys.js';
import { localToIso } from '../model.js';
import { ErrorLine, errorText } from './common.js';

interface Made {
  readonly name: string;
  readonly config: string;
  readonly qr: string;
}

/**
 * Adds a peer whose key pair is made here (WebCrypto X25519): only the public key goes to the
 * API. The config (with the private key) and its QR code are shown once: closing the panel
 * drops them, and nothing keeps them (no storage, no request carries them).
 */
export function AddPeer({ api, pool, onDone }: { api: Api; pool: string; onDone: () => void }) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [made, setMade] = useState<Made | null>(null);
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => () => { if (url) URL.revokeObjectURL(url); }, [url]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const keys = await generateKeyPair();
      const expiresAt = localToIso(expiry);
      const peer = await api.createPeer(pool, { name, publicKey: keys.publicKey, ...(expiresAt ? { expiresAt } : {}) });
      const p = await api.pool(pool);
      const config = renderClientConfig(p, peer, keys.privateKey, peer.presharedKey);
      const svg = await QRCode.toString(config, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      setMade({ name: peer.name, config, qr: `data:image/svg+xml;base64,${btoa(svg)}` });
      setUrl(URL.createObjectURL(new Blob([config], { type: 'text/plain' })));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (made) {
    return html`<div class="dialog made" data-peer=${made.name}>
      <h3>Peer ${made.name} added</h3>
      <p class="warn">This config holds the peer's private key, made in this browser. It is shown only now: download it or scan the QR code before closing.</p>
      <pre class="config">${made.config}</pre>
      <img class="qr" alt="QR code of the config" src=${made.qr} />
      <div class="bar"><a class="button" href=${url} download=${configFileName(pool, made.name)} data-action="download">Download ${configFileName(pool, made.name)}</a>
      <button class="primary" data-action="close" onClick=${() => { setMade(null); onDone(); }}>Done (forget the key)</button></div>
    </div>`;
  }
  return html`<form class="dialog add-peer" onSubmit=${submit} autocomplete="off">
    <h3>Add a peer to ${pool}</h3>
    <div class="bar">
      <label>Name <input name="peer-name" required pattern="[a-z0-9][a-z0-9._\\-]{0,62}" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
      <label>Expires (optional) <input name="peer-expiry" type="datetime-local" value=${expiry} onInput=${(e: Event) => setExpiry((e.target as HTMLInputElement).value)} /></label>
      <button class="primary" type="submit" disabled=${busy || !name}>Make keys and add</button>
      <button type="button" onClick=${onDone}>Cancel</button>
    </div>
    <p class="muted">The key pair is made in this browser; only the public key is sent.</p>
    <${ErrorLine} error=${error} />
  </form>`;
}
