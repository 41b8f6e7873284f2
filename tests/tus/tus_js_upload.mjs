// One upload through the unmodified tus-js-client (tus 1.0.0) in Node, driven by the e2e
// tests of tests/e2e/tus.rs: whole, stopped after N acknowledged bytes, resumed from an
// upload URL, or terminated (DELETE) by its URL.
//
// usage: node tus_js_upload.mjs ENDPOINT TOKEN FILE FOLDER CHUNK_SIZE [--stop-after N]
//          [--resume URL] [--creation-with-upload] [--name NAME]
//        node tus_js_upload.mjs ENDPOINT TOKEN FILE FOLDER CHUNK_SIZE --terminate URL
//
// tus-js-client is loaded from the directory named by DRIP_TEST_TUS_JS (where `cargo xtask
// test` ran `npm ci` on tests/tus/package.json), else from the usual Node resolution.
//
// Prints one JSON object a line on stdout, each with the upload's "url" and "offset":
//   {"event": "created", ...}   the POST answered (not printed when resuming)
//   {"event": "resumed", ...}   the HEAD of --resume answered; "offset" is where it resumes
//   {"event": "chunk", ...}     a PATCH (or the POST's body) was acknowledged at "offset"
//   {"event": "stopped", ...}   --stop-after reached: the upload was aborted, unfinished
//   {"event": "done", ...}      the last byte was acknowledged
//   {"event": "terminated", ...} --terminate URL: the server accepted its DELETE
// On failure it prints {"event": "error", "message", "status", "body"} and exits with 1.
// Every request and its answer go to stderr for the test's failure message. Retries are off:
// a refusal by the server is the test's failure, not something to paper over.

import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { parseArgs } from 'node:util'

const usage =
  'usage: tus_js_upload.mjs ENDPOINT TOKEN FILE FOLDER CHUNK_SIZE [--stop-after N] ' +
  '[--resume URL | --terminate URL] [--creation-with-upload] [--name NAME]'

/** The tus-js-client module: from DRIP_TEST_TUS_JS's node_modules when set. */
async function loadTus() {
  const dir = process.env.DRIP_TEST_TUS_JS
  if (!dir) return import('tus-js-client')
  const require = createRequire(path.join(path.resolve(dir), 'package.json'))
  return require('tus-js-client')
}

function main(tus) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'stop-after': { type: 'string' },
      resume: { type: 'string' },
      terminate: { type: 'string' },
      'creation-with-upload': { type: 'boolean', default: false },
      name: { type: 'string' },
    },
  })
  if (positionals.length !== 5) {
    console.error(usage)
    process.exit(2)
  }
  const [endpoint, token, file, folder, chunkText] = positionals
  const chunkSize = Number(chunkText)
  const stopAfter = values['stop-after'] === undefined ? null : Number(values['stop-after'])
  const name = values.name ?? path.basename(file)
  const size = fs.statSync(file).size

  let upload = null
  let acknowledged = 0
  let finished = false
  const emit = (event, extra = {}) => {
    const url = upload ? upload.url : (values.terminate ?? null)
    process.stdout.write(`${JSON.stringify({ event, url, offset: acknowledged, ...extra })}\n`)
  }
  const exit = (code) => {
    finished = true
    process.stdout.write('', () => process.exit(code))
  }
  const stop = () => {
    finished = true
    upload.abort().then(
      () => {
        emit('stopped')
        exit(0)
      },
      (error) => fail(error),
    )
  }
  const fail = (error) => {
    const response = error.originalResponse ?? null
    console.error(`tus-js-client: failed: ${error.message}`)
    emit('error', {
      message: error.message,
      status: response ? response.getStatus() : null,
      body: response ? response.getBody() : null,
    })
    exit(1)
  }

  const options = {
    headers: { Authorization: `Bearer ${token}` },
    metadata: { filename: name, folder, content_type: 'application/octet-stream' },
    chunkSize,
    retryDelays: null,
    storeFingerprintForResuming: false,
    uploadDataDuringCreation: values['creation-with-upload'],
    onAfterResponse(req, res) {
      const headers = ['Upload-Offset', 'Upload-Length', 'Location', 'Upload-Expires', 'Tus-Resumable']
        .map((h) => [h, res.getHeader(h)])
        .filter(([, v]) => v !== undefined && v !== null)
      console.error(
        `tus-js-client: ${req.getMethod()} ${req.getURL()} ` +
          `Upload-Offset ${req.getHeader('Upload-Offset') ?? '-'} -> ${res.getStatus()} ` +
          JSON.stringify(Object.fromEntries(headers)),
      )
      if (req.getMethod() === 'HEAD' && res.getStatus() < 300) {
        acknowledged = Number.parseInt(res.getHeader('Upload-Offset'), 10)
        emit('resumed')
      }
    },
    onUploadUrlAvailable() {
      if (!values.resume) emit('created')
    },
    onChunkComplete(_chunk, bytesAccepted) {
      acknowledged = bytesAccepted
      if (finished) return
      emit('chunk')
      if (stopAfter !== null && bytesAccepted >= stopAfter && bytesAccepted < size) {
        stop()
      }
    },
    onSuccess() {
      acknowledged = size
      emit('done')
      exit(0)
    },
    onError: fail,
  }
  if (values.terminate) {
    tus.Upload.terminate(values.terminate, options).then(() => {
      console.error(`tus-js-client: terminated ${values.terminate}`)
      emit('terminated')
      exit(0)
    }, fail)
    return
  }
  if (values.resume) {
    // No endpoint: a failed resume must fail, not quietly start a new upload.
    options.uploadUrl = values.resume
  } else {
    options.endpoint = endpoint
  }
  upload = new tus.Upload(fs.createReadStream(file), options)
  upload.start()
}

loadTus().then(main, (error) => {
  console.error(`tus-js-client could not be loaded (DRIP_TEST_TUS_JS=${process.env.DRIP_TEST_TUS_JS}): ${error}`)
  process.exit(1)
})
