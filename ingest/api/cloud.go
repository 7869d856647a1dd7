package api

import "fmt"

// Cloud names a Microsoft 365 cloud (national or government environment).
type Cloud string

// The clouds the Management Activity API is documented for.
const (
	CloudCommercial Cloud = "commercial"
	CloudGCC        Cloud = "gcc"
	CloudGCCHigh    Cloud = "gcchigh"
	CloudDoD        Cloud = "dod"
)

// Clouds lists every known cloud, in documentation order.
var Clouds = []Cloud{CloudCommercial, CloudGCC, CloudGCCHigh, CloudDoD}

var cloudTable = map[Cloud][2]string{
	CloudCommercial: {"https://manage.office.com", "https://login.microsoftonline.com"},
	CloudGCC:        {"https://manage-gcc.office.com", "https://login.microsoftonline.com"},
	CloudGCCHigh:    {"https://manage.office365.us", "https://login.microsoftonline.us"},
	CloudDoD:        {"https://manage.protection.apps.mil", "https://login.microsoftonline.us"},
}

// CloudEndpoints returns the Management Activity API base URL (which is also the
// OAuth resource / scope prefix) and the Entra ID login base URL of a cloud.
// The empty cloud means commercial.
func CloudEndpoints(c Cloud) (apiURL, loginURL string, err error) {
	if c == "" {
		c = CloudCommercial
	}
	e, ok := cloudTable[c]
	if !ok {
		return "", "", fmt.Errorf("api: unknown cloud %q (want one of commercial, gcc, gcchigh, dod)", string(c))
	}
	return e[0], e[1], nil
}
