package inspect

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestCompare(t *testing.T) {
	is := is.New(t)
	expiry := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := Report{
		Source:   "b:1",
		Images:   []Image{{Name: "fn-a:1", ID: "sha256:a1", Size: 100}, {Name: "old:1", ID: "sha256:o"}, {Name: "same:1", ID: "sha256:s"}},
		Services: []Service{{Name: "web", Image: "web:1"}, {Name: "gone", Image: "g:1"}},
		EnvKeys:  []string{"A", "B"},
		Certs:    []Cert{{File: "/c/server.crt", Subject: "CN=x", NotAfter: expiry}, {File: "/c/rootCA.crt", Subject: "CN=ca", NotAfter: expiry}},
		layers:   map[string]int64{"sha256:base": 1000, "sha256:a1top": 10},
	}
	cur := Report{
		Images:   []Image{{Name: "fn-a:1", ID: "sha256:a2", Size: 150}, {Name: "new:1", ID: "sha256:n"}, {Name: "same:1", ID: "sha256:s"}},
		Services: []Service{{Name: "web", Image: "web:2"}, {Name: "api", Image: "api:1"}},
		EnvKeys:  []string{"B", "C"},
		Certs:    []Cert{{File: "/c/server.crt", Subject: "CN=x", NotAfter: expiry.AddDate(1, 0, 0)}, {File: "/c/rootCA.crt", Subject: "CN=ca", NotAfter: expiry}},
		layers:   map[string]int64{"sha256:base": 1000, "sha256:a2top": 20, "sha256:newtop": 5},
	}
	c := Compare(prev, cur)
	is.Equal(c.Against, "b:1")
	is.Equal(c.ImagesAdded, []string{"new:1"})
	is.Equal(c.ImagesRemoved, []string{"old:1"})
	is.Equal(c.ImagesChanged, []ImageChange{{Name: "fn-a:1", From: "sha256:a1", To: "sha256:a2", Delta: 50}})
	is.Equal(c.ServicesAdded, []string{"api"})
	is.Equal(c.ServicesGone, []string{"gone"})
	is.Equal(c.ServicesImage, []string{"web"})
	is.Equal(c.EnvKeysAdded, []string{"C"})
	is.Equal(c.EnvKeysRemoved, []string{"A"})
	is.Equal(c.CertsChanged, []string{"/c/server.crt"})
	is.Equal(c.NewLayerBytes, int64(25)) // the two new top layers, not the shared base

	cur.Changes = &c
	var out bytes.Buffer
	is.NoErr(cur.Text(&out))
	is.True(strings.Contains(out.String(), "changes since b:1"))
	is.True(strings.Contains(out.String(), "fn-a:1: a1 → a2 (+50 bytes)"))

	same := Compare(prev, prev)
	is.Equal(len(same.ImagesChanged)+len(same.ImagesAdded)+len(same.CertsChanged), 0)
	is.Equal(same.NewLayerBytes, int64(0))
}
