// Encrypts or decrypts one file with the official AWS Encryption SDK for JavaScript and a KMS keyring whose client
// talks to the given KMS endpoint, so the interoperability tests can check messages in both directions.
//
//   node interop.mjs encrypt --endpoint URL --region R --key-arn ARN --in FILE --out FILE
//                            [--context k=v]... [--frame-length N] [--no-signature]
//   node interop.mjs decrypt --endpoint URL --region R --key-arn ARN --in FILE --out FILE
//
// Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (never the command line,
// where other users could read them). Prints one JSON line: the suite, the encryption context and the byte counts.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  getClient,
  KMS,
  KmsKeyringNode,
} from '@aws-crypto/client-node';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    endpoint: { type: 'string' },
    region: { type: 'string' },
    'key-arn': { type: 'string' },
    in: { type: 'string' },
    out: { type: 'string' },
    context: { type: 'string', multiple: true, default: [] },
    'frame-length': { type: 'string' },
    'no-signature': { type: 'boolean', default: false },
  },
});

const operation = positionals[0];
for (const name of ['endpoint', 'region', 'key-arn', 'in', 'out']) {
  if (!values[name]) {
    fail(`--${name} is required`);
  }
}

if (operation !== 'encrypt' && operation !== 'decrypt') {
  fail('the first argument must be encrypt or decrypt');
}

const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = process.env;
if (!accessKeyId || !secretAccessKey) {
  fail('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set');
}

const clientProvider = getClient(KMS, {
  endpoint: values.endpoint,
  region: values.region,
  credentials: { accessKeyId, secretAccessKey, sessionToken },
  maxAttempts: 1,
});
const keyring = new KmsKeyringNode({ clientProvider, generatorKeyId: values['key-arn'], keyIds: [] });
const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const input = await readFile(values.in);

try {
  if (operation === 'encrypt') {
    const encryptionContext = Object.fromEntries(values.context.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) {
        fail(`--context takes key=value, not '${pair}'`);
      }

      return [pair.slice(0, at), pair.slice(at + 1)];
    }));
    const options = { encryptionContext };
    if (values['frame-length']) {
      options.frameLength = Number(values['frame-length']);
    }

    if (values['no-signature']) {
      options.suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
    }

    const { result, messageHeader } = await encrypt(keyring, input, options);
    await writeFile(values.out, result);
    report(messageHeader, input.length, result.length);
  } else {
    const { plaintext, messageHeader } = await decrypt(keyring, input);
    await writeFile(values.out, plaintext);
    report(messageHeader, plaintext.length, input.length);
  }
} catch (error) {
  fail(`${operation} failed: ${error.name}: ${error.message}`);
}

function report(header, plaintextBytes, ciphertextBytes) {
  console.log(JSON.stringify({
    suiteId: header.suiteId,
    encryptionContext: header.encryptionContext,
    frameLength: header.frameLength,
    plaintextBytes,
    ciphertextBytes,
  }));
}

function fail(message) {
  console.error(`interop.mjs: ${message}`);
  process.exit(1);
}
