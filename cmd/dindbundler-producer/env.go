package main

import (
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/producer/embedded"
)

// resolve is the command's request: its flags over the project's configuration (environ,
// DEFAULTS_FILE and .env under the project root wd), resolved by internal/config exactly as the
// bundler's Deploy stage resolves it.
func resolve(f config.Flags, wd string, environ []string) (embedded.Request, error) {
	c, err := config.LoadFlags(environ, wd, f)
	if err != nil {
		return embedded.Request{}, err
	}
	if err := c.RequireTemplates(); err != nil { // parseArgs requires --template: not reached
		return embedded.Request{}, err
	}
	return embedded.FromConfig(c, c.Templates[0])
}
