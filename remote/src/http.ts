// Answers: JSON bodies, errors that name the problem.

export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export function error(status: number, message: string): Response {
  return json({ error: message }, status);
}

/** An error that becomes an HTTP answer. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Reads a JSON body of at most `maxBytes`, refusing larger ones before reading them. */
export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    throw new HttpError(413, `body of ${declared} bytes is over the ${maxBytes}-byte limit`);
  }
  const text = await request.text();
  if (text.length > maxBytes) {
    throw new HttpError(413, `body of ${text.length} bytes is over the ${maxBytes}-byte limit`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `body is not JSON: ${(e as Error).message}`);
  }
}
