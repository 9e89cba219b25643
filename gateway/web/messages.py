"""What the services' error reasons (google.rpc.ErrorInfo) mean, in words for members.

The reasons are the services' stable contract; the texts are msgids of the web catalogue."""

from __future__ import annotations

from gateway.web import i18n
from gateway.web.i18n import N_, _

REASONS: dict[str, str] = {
    "invalid_credentials": N_("Wrong login name or password."),
    "credentials_required": N_("Please enter your login name and password."),
    "account_locked": N_("Too many failed attempts. This login is locked for a while; please try again later."),
    "account_inactive": N_("This account has been deactivated."),
    "wrong_password": N_("The current password is wrong."),
    "password_too_short": N_("A password has at least 8 characters."),
    "password_too_long": N_("A password has at most 256 characters."),
    "activation_code_invalid": N_("The activation code is wrong, used or expired."),
    "activation_required": N_("Please enter your login and activation code."),
    "rate_limited": N_("Too many attempts. Please wait a moment and try again."),
    "not_a_member": N_("This account is not a Party member's: it has no inbox, votes or study record."),
    # meetings
    "already_voted": N_("You have already voted in this poll; each member votes once."),
    "poll_closed": N_("This vote is closed."),
    "probationary_member_cannot_vote": N_("Probationary members attend and give opinions but do not vote."),
    "suspended_member_cannot_vote": N_("A member suspended from Party activities does not vote."),
    "member_not_in_session": N_("Your status for this session (transferred or excused) does not allow this."),
    "not_present": N_("Please check in to the meeting before voting."),
    "not_in_roster": N_("Only members summoned to this meeting can do this."),
    "wrong_state": N_("The meeting is not at the stage for this (for example, it has not started or has ended)."),
    "meeting_in_person": N_("This meeting is held in person only."),
}
GENERAL = N_("The request could not be completed. Please check what you entered.")
# For the API's errors whose reason has no text of its own: by HTTP status.
BY_STATUS: dict[int, str] = {
    401: N_("Please sign in again."),
    403: N_("You do not have permission to do this."),
    404: N_("Not found: it does not exist or you cannot see it."),
    405: N_("This address does not accept this method."),
    409: N_("This conflicts with what is already recorded; reload and try again."),
    413: N_("What you sent is too large."),
    414: N_("The address is too long."),
    415: N_("This content type is not accepted."),
    429: N_("Too many requests. Please wait a moment and try again."),
    431: N_("The request headers are too large."),
    500: N_("Something went wrong on our side. Please try again later."),
    501: N_("This is not supported."),
    503: N_("The service is busy or unavailable. Please try again in a moment."),
}


def localized(reason: str, status: int, locale: str) -> str:
    """The API error's text in `locale`: the reason's own, else its HTTP status's, else the general one."""
    text = REASONS.get(reason) or BY_STATUS.get(status) or (BY_STATUS[500] if status >= 500 else GENERAL)
    return str(i18n.catalogue(locale).ugettext(text))


def reason_message(reason: str) -> str:
    """The member-facing text of a reason; a general one for reasons without their own."""
    return _(REASONS.get(reason, GENERAL))
