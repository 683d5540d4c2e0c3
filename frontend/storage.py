"""Static files storage for production: hashed names, compression, and ES module imports
rewritten to the hashed names too.

The pages load plain ES modules without a bundler. With the stock manifest storage, a page's
entry module is hashed but its `import ... from "./api.js"` still names the unhashed file,
which is cached for WHITENOISE_MAX_AGE: after a deploy a browser could run a new page module
against an old helper module. Rewriting the imports makes every module immutable and
consistent with the page that loaded it.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
