"""How to use the platform, in short steps for members, secretaries and committees (the seed
report asks for guidance); open without signing in, so it also explains the first sign-in."""

from __future__ import annotations

from flask import Response

from gateway.web.base import bp, render


@bp.route("/help")
def help_page() -> Response:
    return render("guide.html")
