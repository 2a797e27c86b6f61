/**
 * The typed errors, one class per Rust error enum of `sealgate-crypto`, with `kind` spelling the
 * Rust variant (`"KidMismatch"`, `"MissingHeader"`, …) and `detail` its value (a member name, a
 * part, a count), so that a refusal reads the same in both languages.
 * @module
 */

/** The value a Rust variant carries: a member name, a part, a count, or nothing. */
export type Detail = string | number | undefined;

/** The base of every error this package throws on purpose. */
export class SealgateError extends Error {
  /** The Rust variant name, e.g. `"KidMismatch"`. */
  readonly kind: string;
  /** The variant's value, when it has one. */
  readonly detail: Detail;

  /** An error of `kind` with `detail` and a human message. */
  constructor(kind: string, message: string, detail?: Detail) {
    super(message);
    this.name = new.target.name;
    this.kind = kind;
    this.detail = detail;
  }
}

/** The kinds of {@link EnvelopeError}, as in Rust's `EnvelopeError`. */
export type EnvelopeErrorKind =
  | "TooLarge"
  | "PartCount"
  | "Base64"
  | "HeaderNotJson"
  | "MissingHeader"
  | "InvalidHeader"
  | "UnknownAlgorithm"
  | "UnsupportedAlgorithm"
  | "EncPresent"
  | "EkPresent"
  | "UnsupportedHeader"
  | "NonEmptyIv"
  | "NonEmptyTag"
  | "EncapsulatedKeyLength"
  | "KidMismatch"
  | "AlgorithmMismatch"
  | "PlaintextTooLarge"
  | "Decryption";

/**
 * Why an envelope could not be parsed or opened. Every failure of the cryptography itself is
 * the one opaque `Decryption`.
 */
export class EnvelopeError extends SealgateError {
  declare readonly kind: EnvelopeErrorKind;
  /** An envelope error of `kind`; `detail` as the Rust variant carries it. */
  constructor(kind: EnvelopeErrorKind, detail?: Detail) {
    super(kind, `envelope refused: ${kind}${detail === undefined ? "" : ` (${detail})`}`, detail);
  }
}

/** The kinds of {@link SealError}. */
export type SealErrorKind = "PlaintextTooLarge" | "InvalidBinding" | "InvalidRecipientKey";

/** Why an envelope could not be sealed. */
export class SealError extends SealgateError {
  declare readonly kind: SealErrorKind;
  /** A seal error of `kind`. */
  constructor(kind: SealErrorKind, detail?: Detail) {
    super(kind, `cannot seal: ${kind}${detail === undefined ? "" : ` (${detail})`}`, detail);
  }
}

/** The kinds of {@link JwkError}, as in Rust's `JwkError`. */
export type JwkErrorKind =
  | "NotJson"
  | "NotAnObject"
  | "MissingMember"
  | "InvalidMember"
  | "UnsupportedKeyType"
  | "UnsupportedCurve"
  | "WrongUse"
  | "UnsupportedAlgorithm"
  | "KidNotThumbprint"
  | "PrivateKeyMaterial"
  | "LowOrderPoint"
  | "PublicKeyMismatch"
  | "EmptySet"
  | "TooManyKeys"
  | "DuplicateKey"
  | "InSet"
  | "NoMatchingKey";

/** Why a JWK or JWKS was refused. */
export class JwkError extends SealgateError {
  declare readonly kind: JwkErrorKind;
  /** A key error of `kind`. */
  constructor(kind: JwkErrorKind, detail?: Detail) {
    super(kind, `key refused: ${kind}${detail === undefined ? "" : ` (${detail})`}`, detail);
  }
}

/** The kinds of {@link SignInRequestError}, as in Rust's `SignInRequestError`. */
export type SignInRequestErrorKind =
  | "NotASignInRequest"
  | "TooLong"
  | "UnsupportedVersion"
  | "Missing"
  | "Repeated"
  | "Invalid"
  | "Expired";

/** Why a sign-in request URI was refused. */
export class SignInRequestError extends SealgateError {
  declare readonly kind: SignInRequestErrorKind;
  /** A sign-in request error of `kind`. */
  constructor(kind: SignInRequestErrorKind, detail?: Detail) {
    super(kind, `sign-in request refused: ${kind}${detail === undefined ? "" : ` (${detail})`}`, detail);
  }
}

/** The kinds of {@link BindingError}, as in Rust's `BindingError`. */
export type BindingErrorKind = "Missing" | "WrongClient" | "WrongMailbox" | "Expired";

/** Why an opened envelope's binding is not what the app expected. */
export class BindingError extends SealgateError {
  declare readonly kind: BindingErrorKind;
  /** A binding error of `kind`. */
  constructor(kind: BindingErrorKind, detail?: Detail) {
    super(kind, `envelope binding refused: ${kind}${detail === undefined ? "" : ` (${detail})`}`, detail);
  }
}
