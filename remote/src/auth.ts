// Bearer tokens, compared in constant time.

import { HttpError } from "./http";

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/** Throws 401 unless the request carries `Authorization: Bearer <expected>`. */
export async function authorize(request: Request, expected: string | undefined): Promise<void> {
  return bearer(request, expected, "LCD_API_TOKEN");
}

/**
 * Throws 401 unless the request carries the admin secret `LCD_ADMIN_TOKEN`
 * (503 when none is configured: admin routes are off). Returns who is acting.
 */
export async function authorizeAdmin(request: Request, expected: string | undefined): Promise<string> {
  await bearer(request, expected, "LCD_ADMIN_TOKEN");
  return "admin";
}

async function bearer(request: Request, expected: string | undefined, name: string): Promise<void> {
  if (!expected) {
    throw new HttpError(503, `the server has no ${name} configured`);
  }
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (!match) {
    throw new HttpError(401, "missing Authorization: Bearer <token>");
  }
  // Equal-length digests, so the comparison takes the same time for any token.
  const [given, wanted] = await Promise.all([digest(match[1].trim()), digest(expected)]);
  if (!crypto.subtle.timingSafeEqual(given, wanted)) {
    throw new HttpError(401, "wrong token");
  }
}
