package config

// Remediation is a separate app registration of a tenant used only by o365ingest
// remediate to call Microsoft Graph, so the write permissions remediation needs stay
// apart from the read-only ingest app (recommended). It authenticates in the tenant
// of its Tenant, with exactly one credential, like the tenant's own.
type Remediation struct {
	// ClientID is the application (client) GUID of the remediation app.
	ClientID string `yaml:"client_id" json:"client_id"`
	// ClientSecret, or ClientSecretFile, or CertificateFile (+ PrivateKeyFile for PEM,
	// CertificatePassword[File] for PKCS#12): as the tenant's keys of the same names.
	ClientSecret            Secret `yaml:"client_secret" json:"client_secret"`
	ClientSecretFile        string `yaml:"client_secret_file" json:"client_secret_file"`
	CertificateFile         string `yaml:"certificate_file" json:"certificate_file"`
	PrivateKeyFile          string `yaml:"private_key_file" json:"private_key_file"`
	CertificatePassword     Secret `yaml:"certificate_password" json:"certificate_password"`
	CertificatePasswordFile string `yaml:"certificate_password_file" json:"certificate_password_file"`

	secretFromFile, passwordFromFile bool
}

// RemediationCredential returns the app registration remediation authenticates with:
// the tenant's remediation block when configured, else the tenant's own credential
// (which then needs the Graph permissions too). The result is a Tenant holding only
// the credential keys, TenantID, Cloud and the URLs.
func (t *Tenant) RemediationCredential() Tenant {
	c := Tenant{Name: t.Name, TenantID: t.TenantID, Cloud: t.Cloud, LoginURL: t.LoginURL, GraphURL: t.GraphURL,
		ClientID: t.ClientID, ClientSecret: t.ClientSecret, CertificateFile: t.CertificateFile, PrivateKeyFile: t.PrivateKeyFile,
		CertificatePassword: t.CertificatePassword}
	if r := t.Remediation; r != nil {
		c.ClientID, c.ClientSecret, c.CertificateFile, c.PrivateKeyFile, c.CertificatePassword =
			r.ClientID, r.ClientSecret, r.CertificateFile, r.PrivateKeyFile, r.CertificatePassword
	}
	return c
}

// expandRemediation, readRemediation and validateRemediation are the tenant's
// remediation block's share of expand, readFiles and Validate.
func expandRemediation(r *Remediation, p string, str func(string, *string), sec func(string, *Secret)) {
	if r == nil {
		return
	}
	p += "remediation."
	sec(p+"client_secret", &r.ClientSecret)
	str(p+"client_secret_file", &r.ClientSecretFile)
	str(p+"certificate_file", &r.CertificateFile)
	str(p+"private_key_file", &r.PrivateKeyFile)
	sec(p+"certificate_password", &r.CertificatePassword)
	str(p+"certificate_password_file", &r.CertificatePasswordFile)
}

func readRemediation(r *Remediation, p string, read func(string, *string, *Secret) bool, check func(string, *string)) {
	if r == nil {
		return
	}
	p += "remediation."
	r.secretFromFile = read(p+"client_secret_file", &r.ClientSecretFile, &r.ClientSecret)
	r.passwordFromFile = read(p+"certificate_password_file", &r.CertificatePasswordFile, &r.CertificatePassword)
	check(p+"certificate_file", &r.CertificateFile)
	check(p+"private_key_file", &r.PrivateKeyFile)
}

func validateRemediation(add addFunc, p string, t *Tenant) {
	endpoint(add, p+"graph_url", t.GraphURL)
	r := t.Remediation
	if r == nil {
		return
	}
	p += "remediation."
	guid(add, p+"client_id", r.ClientID, true)
	if r.ClientID != "" && r.ClientID == t.ClientID {
		add(p+"client_id", "%s is the ingest app itself; the remediation block is for a separate app (omit it to use the tenant's own)", r.ClientID)
	}
	credentialProblems(add, p, &Tenant{ClientSecret: r.ClientSecret, ClientSecretFile: r.ClientSecretFile,
		CertificateFile: r.CertificateFile, PrivateKeyFile: r.PrivateKeyFile, CertificatePassword: r.CertificatePassword,
		CertificatePasswordFile: r.CertificatePasswordFile, secretFromFile: r.secretFromFile, passwordFromFile: r.passwordFromFile})
}
