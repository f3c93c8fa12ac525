"""schemathesis hooks of scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

schemathesis checks a reply's body against the document only when it can deserialize it, and it
has no deserializer for text: without this one, the text/plain and text/html replies (/healthz,
/readyz, /metrics, the unsubscribe pages) would be checked for their media type only.
"""
import schemathesis


@schemathesis.deserializer("text/plain", "text/html")
def text(ctx, response):
    return response.content.decode(response.encoding or "utf-8")
