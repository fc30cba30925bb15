"""Spotify's `market` codes (ISO 3166-1 alpha-2) for the region names chart files use.

Kaggle's chart dump names regions in English ("Philippines", "Global"); a Spotify client sends
`market=PH`. steer() accepts either: the region as the catalog spells it (any case), or a code
this table maps to it. Pure data, read on first use.
"""

from __future__ import annotations

_REGIONS = {
    "AD": "Andorra", "AE": "United Arab Emirates", "AR": "Argentina", "AT": "Austria", "AU": "Australia",
    "BE": "Belgium", "BG": "Bulgaria", "BO": "Bolivia", "BR": "Brazil", "BY": "Belarus", "CA": "Canada",
    "CH": "Switzerland", "CL": "Chile", "CO": "Colombia", "CR": "Costa Rica", "CY": "Cyprus",
    "CZ": "Czech Republic", "DE": "Germany", "DK": "Denmark", "DO": "Dominican Republic", "EC": "Ecuador",
    "EE": "Estonia", "EG": "Egypt", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom",
    "GR": "Greece", "GT": "Guatemala", "HK": "Hong Kong", "HN": "Honduras", "HU": "Hungary", "ID": "Indonesia",
    "IE": "Ireland", "IL": "Israel", "IN": "India", "IS": "Iceland", "IT": "Italy", "JP": "Japan",
    "KR": "South Korea", "KZ": "Kazakhstan", "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia",
    "MA": "Morocco", "MT": "Malta", "MX": "Mexico", "MY": "Malaysia", "NG": "Nigeria", "NI": "Nicaragua",
    "NL": "Netherlands", "NO": "Norway", "NZ": "New Zealand", "PA": "Panama", "PE": "Peru", "PH": "Philippines",
    "PL": "Poland", "PT": "Portugal", "PY": "Paraguay", "RO": "Romania", "RU": "Russia", "SA": "Saudi Arabia",
    "SE": "Sweden", "SG": "Singapore", "SK": "Slovakia", "SV": "El Salvador", "TH": "Thailand", "TR": "Turkey",
    "TW": "Taiwan", "UA": "Ukraine", "US": "United States", "UY": "Uruguay", "VN": "Vietnam",
    "ZA": "South Africa", "GLOBAL": "Global",
}
_CODES = {name.casefold(): code for code, name in _REGIONS.items()}


def region_for_code(code: str) -> str | None:
    """"PH" -> "Philippines"; None for a code this table does not know."""
    return _REGIONS.get(code.strip().upper())


def code_for_region(region: str) -> str | None:
    """"Philippines" -> "PH" (a region already given as a code maps to itself)."""
    found = _CODES.get(region.strip().casefold())
    if found is None and region.strip().upper() in _REGIONS:
        return region.strip().upper()
    return found
