/** The receipt's signature does not verify against the key it carries. */
export class InvalidSignatureError extends Error {
  static name = 'InvalidSignatureError'
  constructor(message = 'the receipt signature does not verify; it was altered or signed with another key') {
    super(message)
    this.name = 'InvalidSignatureError'
  }
}

/** The receipt is signed by a key that is not the submitter's: someone tried to spend another's credit. */
export class ForgedSubmitterError extends Error {
  static name = 'ForgedSubmitterError'
  constructor(signer: string, submitter: string) {
    super(`receipt names submitter ${submitter} but is signed by ${signer}; only the submitter may sign`)
    this.name = 'ForgedSubmitterError'
  }
}

/** The encoded receipt is larger than the limit; it was not decoded. */
export class OversizeReceiptError extends Error {
  static name = 'OversizeReceiptError'
  constructor(bytes: number, limitBytes: number) {
    super(`signed receipt of ${bytes} bytes exceeds the limit of ${limitBytes} bytes`)
    this.name = 'OversizeReceiptError'
  }
}

/** The receipt does not decode, is not in canonical form, or breaks a rule (e.g. a wrong amount). */
export class MalformedReceiptError extends Error {
  static name = 'MalformedReceiptError'
  constructor(message: string) {
    super(`malformed receipt: ${message}`)
    this.name = 'MalformedReceiptError'
  }
}

/** The store holds ledger data of a schema version this code does not understand. */
export class LedgerSchemaError extends Error {
  static name = 'LedgerSchemaError'
  constructor(found: string, expected: string) {
    super(
      `the ledger store has schema version ${found}, but this plusone understands version ${expected}; ` +
        'run a plusone version that matches the data, or move the data directory aside',
    )
    this.name = 'LedgerSchemaError'
  }
}
