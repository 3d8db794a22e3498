/** Tagged templates for Preact (htm, bound to Preact's h): markup in plain .ts files, no JSX step. */
export { html } from 'htm/preact';
