"""Turning a campaign into each recipient's message, in four modules:

sandbox   the Jinja2 sandbox marketers' templates run in, its limits, what templates can read of a
          contact, and the checks of a single template (TemplateProblem, layout_check)
editors   each editor's body (rich text, HTML, Markdown, MJML) turned into HTML, merge tags kept
links     link rewriting: UTM parameters, each link turned into the recipient's click URL
compile   content_compile -> CompiledContent.render, the whole-campaign checks and the preview

Import from the module that defines a name; this package re-exports nothing.
"""
