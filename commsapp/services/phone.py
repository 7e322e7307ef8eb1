"""Phone numbers: parsed with `phonenumbers` against the studio's region and stored in E.164."""

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def parse_phone(raw: str, region: str) -> str | None:
    """The number in E.164, or None when it is not a valid number at all."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_mobile(raw: str, region: str) -> str | None:
    """The number in E.164 when it can receive SMS (mobile, or a region that does not tell them apart)."""
    e164 = parse_phone(raw, region)
    if e164 is None:
        return None
    if phonenumbers.number_type(phonenumbers.parse(e164)) not in MOBILE_TYPES:
        return None
    return e164
