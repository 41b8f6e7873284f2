# schemathesis hooks of `cargo xtask schemathesis` (loaded through SCHEMATHESIS_HOOKS):
# the tus routes take their content as `application/offset+octet-stream` (tus 1.0.0),
# which schemathesis has no serializer for; it is bytes, like application/octet-stream.
import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
