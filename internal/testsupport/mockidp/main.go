// Command mockidp runs a mock OpenID Connect provider on loopback for the console's browser
// tests, which cannot start a Go one in process: it prints {"issuer", "clientId",
// "clientSecret"} as one JSON line and serves until stdin closes. Every login is the
// provider's default user (jane.doe@example.com, groups engineering and design).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/oauth2-proxy/mockoidc"
)

func main() {
	m, err := mockoidc.Run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockidp:", err)
		os.Exit(1)
	}
	cfg := m.Config()
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"issuer": cfg.Issuer, "clientId": cfg.ClientID, "clientSecret": cfg.ClientSecret})
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = m.Shutdown()
}
