import type { components } from "./schema.js";

/** The body of every error response: `{"error": {"code", "message", "request_id", "fields"?}}`. */
export type ErrorBody = components["schemas"]["ErrorBody"];
/** What went wrong; `code` values are stable, `message` wording may change. */
export type ErrorDetail = components["schemas"]["ErrorDetail"];
/** One problem with one input field, listed for `validation_failed`. */
export type FieldError = components["schemas"]["FieldError"];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** Whether `value` has the gateway's error shape (a proxy's HTML page, say, does not). */
export function isErrorBody(value: unknown): value is ErrorBody {
  if (!isRecord(value) || !isRecord(value.error)) {
    return false;
  }
  const { code, message, request_id, fields } = value.error;
  return (
    typeof code === "string" &&
    typeof message === "string" &&
    typeof request_id === "string" &&
    (fields === undefined || Array.isArray(fields))
  );
}

/** An error response from the gateway, thrown by {@link unwrap}. */
export class GatewayError extends Error {
  override name = "GatewayError";
  /** The HTTP status. */
  readonly status: number;
  /** The parsed body; undefined when the answer was not the gateway's error shape. */
  readonly body: ErrorBody | undefined;

  constructor(response: Response, body: unknown) {
    const parsed = isErrorBody(body) ? body : undefined;
    super(
      parsed === undefined
        ? `${response.status} ${response.statusText} from ${response.url}`
        : `${response.status} ${parsed.error.code}: ${parsed.error.message} ` +
            `(request ${parsed.error.request_id})`,
    );
    this.status = response.status;
    this.body = parsed;
  }

  /** The stable error code, e.g. `organizer_not_found`. */
  get code(): string | undefined {
    return this.body?.error.code;
  }

  /** Field-level problems of a `validation_failed` answer; empty otherwise. */
  get fields(): FieldError[] {
    return this.body?.error.fields ?? [];
  }
}

/** What every openapi-fetch call resolves to. */
interface Outcome {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/**
 * Awaits a call that answers with a body and returns that body, typed by the operation's
 * success response; throws a {@link GatewayError} for an error response.
 */
export async function unwrap<O extends Outcome>(
  call: Promise<O>,
): Promise<Exclude<O["data"], undefined>> {
  const { data, error, response } = await call;
  if (!response.ok || error !== undefined) {
    throw new GatewayError(response, error);
  }
  return data as Exclude<O["data"], undefined>;
}
