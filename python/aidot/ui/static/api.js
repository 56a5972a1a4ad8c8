// The JSON API, with errors as exceptions that keep the status and kind the server sent.

export class ApiError extends Error {
  constructor(status, message, kind) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

async function send(method, path, params, body) {
  const headers = {};
  const token = sessionStorage.getItem("aidot-token");
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(url(path, params), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await reply.json().catch(() => null);
  if (!reply.ok) {
    throw new ApiError(reply.status, data && data.error ? data.error : reply.statusText,
      data && data.kind ? data.kind : "error");
  }
  return data;
}

export const get = (path, params) => send("GET", path, params);
export const post = (path, body) => send("POST", path, undefined, body);
export const del = (path) => send("DELETE", path);

export function artifactUrl(runId, path, download = false) {
  return url(`/api/runs/${encodeURIComponent(runId)}/artifact`, { path, download: download ? "true" : "" });
}

// A write: asks for the token when the server wants one, then retries once.
export async function write(action) {
  try {
    return await action();
  } catch (error) {
    if (error.status !== 403 || !/token/.test(error.message)) throw error;
    const token = window.prompt(`${error.message}\n\nToken:`);
    if (!token) throw error;
    sessionStorage.setItem("aidot-token", token);
    return await action();
  }
}
