package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/internal/userfile"
)

// ExpiryWarning is how close to its expiry a certificate gets a warning instead of silence.
const ExpiryWarning = 30 * 24 * time.Hour

// Report is the result of Check.
type Report struct {
	Dir      string   // absolute certificate directory
	Files    []string // every regular file checked (PEM extensions), sorted, relative to Dir
	Warnings []string // problems that do not stop a build, e.g. a certificate expiring soon
}

// leafPair is a certificate and its key that must chain to the root CA.
type leafPair struct {
	cert, key string
	usage     x509.ExtKeyUsage
}

var leafPairs = []leafPair{
	{ServerCert, ServerKey, x509.ExtKeyUsageServerAuth},
	{ClientCert, ClientKey, x509.ExtKeyUsageClientAuth},
}

// Check validates the certificate directory at time now: rootCA.crt exists and is a valid CA
// certificate; every .crt/.pem/.key/.cert file under dir (recursively) holds PEM blocks that
// parse; server.crt/server.key and client.crt/client.key, when present, come in pairs, chain to
// rootCA.crt, match their keys and are valid at now. Certificates expiring within ExpiryWarning
// become Warnings. All problems found are returned together (errors.Join), so one run lists
// everything to fix.
func Check(dir string, now time.Time) (Report, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Report{}, fmt.Errorf("check certificates in %s: %w", dir, err)
	}
	rep := Report{Dir: abs}
	if err := userfile.Check("CERT_DIR", abs); err != nil {
		return rep, err
	}
	rootPath := filepath.Join(abs, RootCACert)
	fi, err := os.Stat(rootPath)
	switch {
	case notFound(err):
		return rep, fmt.Errorf("%w at %s: %s", ErrRootCANotFound, rootPath, rootCAHint)
	case err != nil:
		return rep, fmt.Errorf("check root CA %s: %w", rootPath, err)
	case !fi.Mode().IsRegular():
		return rep, fmt.Errorf("check root CA %s: %s, not a regular file: put the PEM-encoded root CA certificate there", rootPath, userfile.Kind(fi.Mode()))
	}

	files, err := listFiles(abs)
	if err != nil {
		return rep, err
	}
	var problems []error
	parsed := map[string]pemContents{}
	for _, rel := range files {
		if !hasPEMExt(rel) {
			continue
		}
		rep.Files = append(rep.Files, rel)
		c, err := readPEMFile(abs, rel)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		parsed[rel] = c
		if c.encrypted > 0 && !isLeafKey(rel) && !strings.EqualFold(filepath.Base(rel), RootCAKey) {
			// The image stage would refuse it: say so now. (A leaf key is reported below.)
			problems = append(problems, encryptedKeyError(abs, rel))
		}
	}

	roots := x509.NewCertPool()
	rootOK := false
	if root, ok := parsed[RootCACert]; ok {
		rootOK = true
		for _, err := range checkRoot(root, now, &rep) {
			problems = append(problems, err)
			rootOK = false
		}
		for _, c := range root.certs {
			roots.AddCert(c)
		}
	}

	for _, p := range leafPairs {
		present, err := pairPresent(abs, p)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if !present {
			continue
		}
		certC, okC := parsed[p.cert]
		keyC, okK := parsed[p.key]
		if !okC || !okK || !rootOK {
			// Already reported as a parse or root CA problem; checking the pair would only
			// repeat it.
			continue
		}
		problems = append(problems, checkLeaf(p, certC, keyC, roots, now, &rep)...)
	}
	return rep, errors.Join(problems...)
}

func isLeafKey(rel string) bool {
	for _, p := range leafPairs {
		if rel == p.key {
			return true
		}
	}
	return false
}

// readPEMFile reads and parses one file, naming it in every error.
func readPEMFile(dir, rel string) (pemContents, error) {
	data, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		return pemContents{}, fmt.Errorf("read %s: %w", rel, err)
	}
	c, err := parsePEM(data)
	if err != nil {
		return c, fmt.Errorf("parse %s: %w: replace it with a valid PEM file", rel, err)
	}
	if c.blocks == 0 {
		return c, fmt.Errorf("parse %s: no PEM block found: the file must be PEM-encoded (-----BEGIN ...-----); convert it or remove it from %s", rel, dir)
	}
	return c, nil
}

// checkRoot checks every certificate in rootCA.crt is a CA valid at now.
func checkRoot(root pemContents, now time.Time, rep *Report) []error {
	var errs []error
	if len(root.certs) == 0 {
		errs = append(errs, fmt.Errorf("check %s: it holds no CERTIFICATE block: put the PEM-encoded root CA certificate there", RootCACert))
	}
	if len(root.keys) > 0 || root.encrypted > 0 {
		errs = append(errs, fmt.Errorf("check %s: it holds a private key, which must not be bundled: move the key to %s", RootCACert, RootCAKey))
	}
	for _, c := range root.certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			errs = append(errs, fmt.Errorf("check %s: certificate %q is not a CA certificate (basic constraints CA:TRUE missing): point CERT_DIR at the CA that signed your server certificate", RootCACert, c.Subject.String()))
			continue
		}
		if err := checkValidity(RootCACert, c, now, rep); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// pairPresent reports whether both files of a pair exist; one without the other is an error
// naming the missing one.
func pairPresent(dir string, p leafPair) (bool, error) {
	exists := func(name string) (bool, error) {
		_, err := os.Stat(filepath.Join(dir, name))
		if notFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("check %s: %w", name, err)
		}
		return true, nil
	}
	cert, err := exists(p.cert)
	if err != nil {
		return false, err
	}
	key, err := exists(p.key)
	if err != nil {
		return false, err
	}
	switch {
	case cert && !key:
		return false, fmt.Errorf("check %s: %s not found at %s: put the matching private key there, or remove %s", p.cert, p.key, filepath.Join(dir, p.key), p.cert)
	case key && !cert:
		return false, fmt.Errorf("check %s: %s not found at %s: put the matching certificate there, or remove %s", p.key, p.cert, filepath.Join(dir, p.cert), p.key)
	}
	return cert && key, nil
}

// checkLeaf checks a certificate against the root CA pool and its private key.
func checkLeaf(p leafPair, certC, keyC pemContents, roots *x509.CertPool, now time.Time, rep *Report) []error {
	if len(certC.certs) == 0 {
		return []error{fmt.Errorf("check %s: it holds no CERTIFICATE block", p.cert)}
	}
	leaf := certC.certs[0]
	var errs []error
	if err := checkValidity(p.cert, leaf, now, rep); err != nil {
		// An expired certificate would also fail Verify below, with a less helpful message.
		errs = append(errs, err)
	} else {
		inter := x509.NewCertPool()
		for _, c := range certC.certs[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{p.usage},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("verify %s against %s: %w: sign %s with the CA in %s (or put that CA's certificate there)", p.cert, RootCACert, err, p.cert, RootCACert))
		}
	}
	switch {
	case len(keyC.keys) > 0:
		if !samePublicKey(leaf.PublicKey, keyC.keys[0].Public()) {
			errs = append(errs, fmt.Errorf("check %s: its public key does not match the private key in %s: put the key %s was issued for there", p.cert, p.key, p.cert))
		}
	case keyC.encrypted > 0:
		errs = append(errs, fmt.Errorf("check %s: the private key is encrypted, so it cannot be matched to %s (and the services could not use it unattended): store it unencrypted", p.key, p.cert))
	default:
		errs = append(errs, fmt.Errorf("check %s: it holds no private key block", p.key))
	}
	return errs
}

// checkValidity fails a certificate outside its validity period at now and warns when it
// expires within ExpiryWarning.
func checkValidity(name string, c *x509.Certificate, now time.Time, rep *Report) error {
	const day = "2006-01-02"
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("check %s: certificate %q expired on %s: renew it", name, c.Subject.String(), c.NotAfter.UTC().Format(day))
	case now.Before(c.NotBefore):
		return fmt.Errorf("check %s: certificate %q is not valid before %s: check the clock, or reissue it", name, c.Subject.String(), c.NotBefore.UTC().Format(time.RFC3339))
	case c.NotAfter.Sub(now) < ExpiryWarning:
		days := int(c.NotAfter.Sub(now).Hours() / 24)
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: certificate %q expires on %s (in %d days): renew it soon", name, c.Subject.String(), c.NotAfter.UTC().Format(day), days))
	}
	return nil
}
