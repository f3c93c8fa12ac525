import Foundation

/// A lead's time zone for quiet hours and business days: the `timezone` attribute when it
/// names an IANA zone, else the main zone of its country (ISO 3166-1 alpha-2), else UTC.
/// Countries spanning several zones get their most populous one (US: New York); give the
/// attribute where that matters.
public enum CountryTimeZones {
    public static func zone(country: String?, given: String?) -> TimeZone {
        if let given, let zone = TimeZone(identifier: given) { return zone }
        if let country, let name = main[country.uppercased()], let zone = TimeZone(identifier: name) { return zone }
        return TimeZone(identifier: "UTC")!
    }

    /// Country → its most populous IANA zone.
    static let main: [String: String] = [
        "AD": "Europe/Andorra", "AE": "Asia/Dubai", "AR": "America/Argentina/Buenos_Aires", "AT": "Europe/Vienna",
        "AU": "Australia/Sydney", "BA": "Europe/Sarajevo", "BD": "Asia/Dhaka", "BE": "Europe/Brussels", "BG": "Europe/Sofia",
        "BH": "Asia/Bahrain", "BO": "America/La_Paz", "BR": "America/Sao_Paulo", "BY": "Europe/Minsk", "CA": "America/Toronto",
        "CH": "Europe/Zurich", "CL": "America/Santiago", "CN": "Asia/Shanghai", "CO": "America/Bogota", "CR": "America/Costa_Rica",
        "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DE": "Europe/Berlin", "DK": "Europe/Copenhagen", "DO": "America/Santo_Domingo",
        "DZ": "Africa/Algiers", "EC": "America/Guayaquil", "EE": "Europe/Tallinn", "EG": "Africa/Cairo", "ES": "Europe/Madrid",
        "FI": "Europe/Helsinki", "FR": "Europe/Paris", "GB": "Europe/London", "GH": "Africa/Accra", "GR": "Europe/Athens",
        "GT": "America/Guatemala", "HK": "Asia/Hong_Kong", "HR": "Europe/Zagreb", "HU": "Europe/Budapest", "ID": "Asia/Jakarta",
        "IE": "Europe/Dublin", "IL": "Asia/Jerusalem", "IN": "Asia/Kolkata", "IR": "Asia/Tehran", "IS": "Atlantic/Reykjavik",
        "IT": "Europe/Rome", "JO": "Asia/Amman", "JP": "Asia/Tokyo", "KE": "Africa/Nairobi", "KR": "Asia/Seoul", "KW": "Asia/Kuwait",
        "KZ": "Asia/Almaty", "LB": "Asia/Beirut", "LI": "Europe/Vaduz", "LK": "Asia/Colombo", "LT": "Europe/Vilnius",
        "LU": "Europe/Luxembourg", "LV": "Europe/Riga", "MA": "Africa/Casablanca", "MC": "Europe/Monaco", "MT": "Europe/Malta",
        "MX": "America/Mexico_City", "MY": "Asia/Kuala_Lumpur", "NG": "Africa/Lagos", "NL": "Europe/Amsterdam", "NO": "Europe/Oslo",
        "NZ": "Pacific/Auckland", "OM": "Asia/Muscat", "PA": "America/Panama", "PE": "America/Lima", "PH": "Asia/Manila",
        "PK": "Asia/Karachi", "PL": "Europe/Warsaw", "PR": "America/Puerto_Rico", "PT": "Europe/Lisbon", "PY": "America/Asuncion",
        "QA": "Asia/Qatar", "RO": "Europe/Bucharest", "RS": "Europe/Belgrade", "RU": "Europe/Moscow", "SA": "Asia/Riyadh",
        "SE": "Europe/Stockholm", "SG": "Asia/Singapore", "SI": "Europe/Ljubljana", "SK": "Europe/Bratislava", "TH": "Asia/Bangkok",
        "TN": "Africa/Tunis", "TR": "Europe/Istanbul", "TW": "Asia/Taipei", "UA": "Europe/Kyiv", "US": "America/New_York",
        "UY": "America/Montevideo", "VE": "America/Caracas", "VN": "Asia/Ho_Chi_Minh", "ZA": "Africa/Johannesburg",
    ]
}
