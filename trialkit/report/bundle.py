"""The vega bundle as a page carries it: gzip-compressed text, unpacked by the browser.

The bundle (vega + vega-lite + vega-embed, :func:`trialkit.report.html.vega_bundle`) is
0.9 MB of JavaScript; gzip makes it 0.3 MB. A page holds it as a non-executable
``<script id="trialkit-vega-bundle" type="application/x-trialkit-vega">`` whose text is the
gzip bytes in base-85 (5 characters per 4 bytes, 25 % over the bytes; base64 would be 33 %,
the 30 KB that keep the overview under 0.5 MB). A small loader script decodes it, unpacks
it with the browser's ``DecompressionStream("gzip")`` and runs it; then every chart of the
page swaps its static image for the interactive view (the swap script of
:func:`trialkit.report.notebook.chart_html` listens for the ``trialkit-vega-ready`` event).

Where JavaScript is off, or the browser has no ``DecompressionStream`` (Chrome < 80,
Firefox < 113, Safari < 16.4), nothing runs and the static SVG/PNG of each chart stays:
the page is still complete, only not interactive. ``window.trialkitVega`` tells what
happened: ``"ready"``, ``"unsupported"`` or ``"failed"`` (tests read it).

The alphabet is RFC 1924's base-85 (Python's :func:`base64.b85encode`) with ``<`` written as
``.``: without ``<`` the text can never close its ``<script>`` element or open a comment.

Example:
    >>> text = bundle_html("window.vegaEmbed=function(){};")
    >>> text.count('id="trialkit-vega-bundle"'), "window.vegaEmbed=" in text
    (1, False)
"""

from __future__ import annotations

import base64
import gzip
from functools import lru_cache

BUNDLE_ID = "trialkit-vega-bundle"
BUNDLE_TYPE = "application/x-trialkit-vega"
ENCODING = "gzip+base85"
READY_EVENT = "trialkit-vega-ready"
# RFC 1924 alphabet (base64.b85encode) with "<" replaced by "." (not in the alphabet)
ALPHABET = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            "!#$%&()*+-;.=>?@^_`{|}~")
_TO_PAGE = str.maketrans("<", ".")

# Decode base-85 -> gzip bytes -> DecompressionStream -> run as a classic script -> event.
# Written for old browsers too (no arrow functions): where something is missing it stops
# quietly and the static images stay.
# window.trialkitInflate(text, bytes): base-85 text -> gzip bytes -> DecompressionStream ->
# a promise of the text (the bundle here; large chart specs in notebook.chart_html too).
INFLATE_JS = """window.trialkitInflate=window.trialkitInflate||function(text,n){var A="%(alphabet)s",map={},i,j;
text=text.replace(/\\s+/g,"");for(i=0;i<85;i++){map[A.charAt(i)]=i;}
var out=new Uint8Array(text.length/5*4);
for(i=0,j=0;i<text.length;i+=5,j+=4){var v=0;for(var k=0;k<5;k++){var d=map[text.charAt(i+k)];if(d===undefined){throw new Error("bad character in packed text");}v=v*85+d;}
out[j]=(v>>>24)&255;out[j+1]=(v>>>16)&255;out[j+2]=(v>>>8)&255;out[j+3]=v&255;}
return new Response(new Blob([out.subarray(0,n)]).stream().pipeThrough(new DecompressionStream("gzip"))).text();};"""

# Decode base-85 -> gzip bytes -> DecompressionStream -> run as a classic script -> event.
# Written for old browsers too (no arrow functions): where something is missing it stops
# quietly and the static images stay.
LOADER_JS = """(function(){var el=document.getElementById("%(id)s");if(!el){return;}
function state(s){window.trialkitVega=s;}
if(typeof DecompressionStream!=="function"||typeof Blob!=="function"||typeof Response!=="function"||!Blob.prototype.stream){state("unsupported");return;}
state("loading");
try{%(inflate)s
window.trialkitInflate(el.textContent,parseInt(el.getAttribute("data-bytes"),10)).then(function(code){var s=document.createElement("script");s.textContent=code;document.head.appendChild(s);
if(typeof window.vegaEmbed!=="function"){throw new Error("the bundle did not define vegaEmbed");}
state("ready");window.dispatchEvent(new Event("%(event)s"));})
.catch(function(e){state("failed");console.warn("trialkit: interactive charts unavailable, static images kept:",e);});}
catch(e){state("failed");console.warn("trialkit: interactive charts unavailable, static images kept:",e);}})();"""


def encode_base85(data: bytes) -> str:
    """``data`` (zero-padded to a multiple of 4 bytes) as page-safe base-85 text.

    Example:
        >>> encode_base85(b"<<<<")
        'JUl!+'
    """
    padded = data + b"\0" * (-len(data) % 4)
    return base64.b85encode(padded).decode("ascii").translate(_TO_PAGE)


def decode_base85(text: str, size: int) -> bytes:
    """The inverse of :func:`encode_base85` (what the loader does in the browser).

    Example:
        >>> decode_base85(encode_base85(b"abcde"), 5)
        b'abcde'
    """
    return base64.b85decode(text.replace(".", "<"))[:size]


@lru_cache(maxsize=2)
def compress_bundle(code: str) -> tuple[str, int]:
    """``(page text, gzip size)`` of a bundle: deterministic (no time stamp in the gzip header)."""
    packed = gzip.compress(code.encode("utf-8"), compresslevel=9, mtime=0)
    return encode_base85(packed), len(packed)


def inflate_js() -> str:
    """The script that defines ``window.trialkitInflate`` (packed text -> a promise of its text)."""
    return INFLATE_JS % {"alphabet": ALPHABET}


def pack_text(text: str) -> tuple[str, int]:
    """``(page text, gzip size)`` of any text, for ``window.trialkitInflate`` (deterministic).

    Example:
        >>> packed, size = pack_text('{"a": 1}')
        >>> gzip.decompress(decode_base85(packed, size))
        b'{"a": 1}'
    """
    packed = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    return encode_base85(packed), len(packed)


def bundle_html(code: str) -> str:
    """The two ``<script>`` elements a page's ``<head>`` holds: the packed bundle and its loader.

    Args:
        code: the bundle's JavaScript (``trialkit.report.html.vega_bundle()``).

    Returns:
        HTML; ~0.39 MB for the 0.9 MB bundle. Compressed once per process.
    """
    text, size = compress_bundle(code)
    loader = LOADER_JS % {"id": BUNDLE_ID, "event": READY_EVENT, "inflate": inflate_js()}
    return (f'<script id="{BUNDLE_ID}" type="{BUNDLE_TYPE}" data-encoding="{ENCODING}" '
            f'data-bytes="{size}">{text}</script>\n<script id="trialkit-vega-loader">{loader}</script>')
