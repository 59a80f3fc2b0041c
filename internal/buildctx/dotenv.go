package buildctx

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// DotEnvRequest is what the bundle's .env is made from.
type DotEnvRequest struct {
	Project string // the project's .env (DOTENV_PATH); it may not exist
	// Kept is where the generated .env of a project without one is kept (under the build
	// directory), so its storage keys stay the same from one build to the next.
	Kept            string
	Env, CertTarget string
	// Vars are the settings as configured: a storage key set there (RUSTFS_ACCESS_KEY,
	// RUSTFS_SECRET_KEY) is the one generated .env holds.
	Vars map[string]string
	// Secret makes a storage key the settings do not give.
	Secret func() (string, error)
}

// storageKeys are the keys a generated .env holds.
var storageKeys = []string{"RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY"}

// BundleDotEnv is the bundle's .env (DotEnv): the project's own, else the one generated and kept
// at r.Kept while it still fits the settings (the same ENV, CERT_DIR and configured keys), else
// a new one with random storage keys, kept there.
func BundleDotEnv(r DotEnvRequest) ([]byte, error) {
	if project, err := userfile.ReadFile("the project's .env", r.Project); err == nil {
		return DotEnv(project, r.Env, r.CertTarget, "", ""), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", r.Project, err)
	}
	if data, err := os.ReadFile(r.Kept); err == nil {
		if vars, err := config.ParseEnv(string(data)); err == nil && vars["ENV"] == r.Env && vars["CERT_DIR"] == r.CertTarget &&
			keyMatches(r.Vars, storageKeys[0], vars) && keyMatches(r.Vars, storageKeys[1], vars) {
			return data, nil
		}
	}
	keys := map[string]string{}
	for _, k := range storageKeys {
		if v := r.Vars[k]; v != "" {
			keys[k] = v
			continue
		}
		v, err := r.Secret()
		if err != nil {
			return nil, err
		}
		keys[k] = v
	}
	data := DotEnv(nil, r.Env, r.CertTarget, keys[storageKeys[0]], keys[storageKeys[1]])
	if err := atomicfile.Write(r.Kept, data, 0o600); err != nil {
		return nil, err
	}
	return data, nil
}

// keyMatches: a key set in the settings must be the one kept; an unset one may be anything.
func keyMatches(settings map[string]string, key string, kept map[string]string) bool {
	return settings[key] == "" || settings[key] == kept[key]
}

var certDirLine = regexp.MustCompile(`(?m)^[ \t]*(export[ \t]+)?CERT_DIR[ \t]*=.*$`)

// DotEnv is the bundle's .env. The project's own is kept with CERT_DIR pointing at the
// certificates inside the bundle (a host path there would mount nothing); without one, a
// generated file holds the environment name, the storage keys and CERT_DIR.
func DotEnv(project []byte, env, certTarget, accessKey, secretKey string) []byte {
	line := "CERT_DIR=" + certTarget
	if project != nil {
		if certDirLine.Match(project) {
			return certDirLine.ReplaceAllLiteral(project, []byte(line))
		}
		out := append([]byte{}, project...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, line+"\n"...)
	}
	return []byte(fmt.Sprintf("ENV=%s\nRUSTFS_ACCESS_KEY=%s\nRUSTFS_SECRET_KEY=%s\n%s\n", env, accessKey, secretKey, line))
}
