// The Worker's bindings, secrets and vars (wrangler.toml says how each is set).

export interface Env {
  DB: D1Database;
  /** Secret: the bootstrap admin token, for the first `POST /api/admin/tokens`. */
  LCD_ADMIN_TOKEN?: string;
  /** Secret, deprecated: one token for everyone, a writer named `shared`. */
  LCD_API_TOKEN?: string;
  /** Records one POST /api/commands/batch may carry. */
  MAX_BATCH?: string;
  /** Cloudflare Access: the application's audience tag; with ACCESS_TEAM_DOMAIN, turns Access on. */
  ACCESS_AUD?: string;
  /** Cloudflare Access: `<team>.cloudflareaccess.com`, the JWTs' issuer. */
  ACCESS_TEAM_DOMAIN?: string;
  /** Where the Access signing keys are; default https://<ACCESS_TEAM_DOMAIN>/cdn-cgi/access/certs. */
  ACCESS_CERTS_URL?: string;
  /** The role of a user identified by Access: reader (default), writer or admin. */
  ACCESS_ROLE?: string;
}
