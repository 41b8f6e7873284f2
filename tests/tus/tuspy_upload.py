# One upload through the unmodified tuspy client (tus 1.0.0), driven by the e2e tests of
# tests/e2e/tus.rs: whole, stopped after N acknowledged bytes, or resumed from an upload URL.
#
# usage: tuspy_upload.py ENDPOINT TOKEN FILE FOLDER CHUNK_SIZE [--stop-after N] [--resume URL]
#                        [--name NAME]
#
# Prints one JSON object a line on stdout, each with the upload's "url" and "offset":
#   {"event": "created", ...}   the POST answered (not printed when resuming)
#   {"event": "resumed", ...}   the HEAD of --resume answered; "offset" is where it resumes
#   {"event": "chunk", ...}     a PATCH was acknowledged; "offset" is the server's new offset
#   {"event": "stopped", ...}   --stop-after reached: the upload is left unfinished
#   {"event": "done", ...}      the last byte was acknowledged
# On failure it prints {"event": "error", "message", "status", "body"} and exits with 1.
# The requests and answers go to stderr for the test's failure message.

import argparse
import json
import os
import sys

from tusclient import client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed


def emit(event, uploader, **extra):
    line = {"event": event, "url": uploader.url, "offset": uploader.offset}
    line.update(extra)
    print(json.dumps(line), flush=True)


def log(message):
    print(f"tuspy: {message}", file=sys.stderr, flush=True)


def answered(uploader):
    """What the server answered the last PATCH: status and the tus headers."""
    request = uploader.request
    if request is None:
        return "no request yet"
    headers = {k: v for k, v in request.response_headers.items() if k.startswith(("upload-", "tus-"))}
    return f"{request.status_code} {headers}"


def main():
    parser = argparse.ArgumentParser(description="one tus upload with tuspy")
    parser.add_argument("endpoint", help="the creation URL, e.g. http://127.0.0.1:PORT/api/v1/uploads")
    parser.add_argument("token", help="the bearer access token")
    parser.add_argument("file", help="the file to upload")
    parser.add_argument("folder", help="the Drip folder it lands in, e.g. $/docs")
    parser.add_argument("chunk_size", type=int, help="bytes per PATCH")
    parser.add_argument("--stop-after", type=int, help="stop once this many bytes were acknowledged")
    parser.add_argument("--resume", metavar="URL", help="resume this upload instead of creating one")
    parser.add_argument("--name", help="the file name metadata (default: the file's base name)")
    args = parser.parse_args()

    tus = client.TusClient(args.endpoint, headers={"Authorization": f"Bearer {args.token}"})
    name = args.name or os.path.basename(args.file)
    metadata = {"filename": name, "folder": args.folder, "content_type": "application/octet-stream"}
    uploader = None
    try:
        if args.resume:
            # Given a URL, the uploader asks the server for its offset (HEAD) right away.
            uploader = tus.uploader(args.file, url=args.resume, chunk_size=args.chunk_size, metadata=metadata)
            log(f"HEAD {args.resume} -> Upload-Offset {uploader.offset}")
            emit("resumed", uploader)
        else:
            uploader = tus.uploader(args.file, chunk_size=args.chunk_size, metadata=metadata)
            uploader.set_url(uploader.create_url())
            log(f"POST {args.endpoint} -> Location {uploader.url}")
            emit("created", uploader)
        size = uploader.get_file_size()
        while uploader.offset < size:
            if args.stop_after is not None and uploader.offset >= args.stop_after:
                emit("stopped", uploader)
                return 0
            sent_from = uploader.offset
            uploader.upload_chunk()
            log(f"PATCH {uploader.url} Upload-Offset {sent_from} -> {answered(uploader)}")
            emit("chunk", uploader)
        emit("done", uploader)
        return 0
    except (TusCommunicationError, TusUploadFailed) as error:
        body = error.response_content.decode("utf-8", "replace") if error.response_content else None
        log(f"failed: {error} (status {error.status_code}, body {body!r})")
        print(
            json.dumps(
                {
                    "event": "error",
                    "url": uploader.url if uploader else None,
                    "offset": uploader.offset if uploader else None,
                    "message": str(error),
                    "status": error.status_code,
                    "body": body,
                }
            ),
            flush=True,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
