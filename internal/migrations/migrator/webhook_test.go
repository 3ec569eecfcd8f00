package migrator

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

func TestSendWebhook(t *testing.T) {
	secret, err := signature.NewSecret()
	require.NoError(t, err)
	key, err := signature.ParseSecret(secret)
	require.NoError(t, err)
	status := http.StatusNoContent
	var got http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
		if status >= 400 {
			_, _ = io.WriteString(w, `{"error":"invalid_token"}`)
		}
	}))
	defer srv.Close()
	c := NewClient(nil, 0, 0)
	target := srv.URL + "/services/T1/B2/token?key=k1"

	code, err := c.SendWebhook(context.Background(), target, []byte(`{"text":"hi"}`), secret, "n-1")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, code)
	msg, err := signature.Verify([][]byte{key}, got, body, time.Now())
	require.NoError(t, err)
	require.Equal(t, "n-1", msg.ID)
	require.Equal(t, "application/json", got.Get("Content-Type"))

	status = http.StatusForbidden
	code, err = c.SendWebhook(context.Background(), target, []byte(`{}`), secret, "n-2")
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, http.StatusForbidden, e.MigratorStatus())
	require.Equal(t, "webhook notification at "+srv.URL+"/… answered 403: invalid_token", err.Error())

	// The zero guard refuses loopback: the request is never made, and a retry will not help.
	status = http.StatusOK
	guarded := NewClientWith(Options{})
	_, err = guarded.SendWebhook(context.Background(), target, []byte(`{}`), secret, "n-3")
	require.ErrorAs(t, err, &e)
	require.True(t, e.Refused(), "%v", err)
	require.NotContains(t, err.Error(), "token")
	require.Error(t, guarded.CheckWebhookURL("http://127.0.0.1:9/x"))
	require.NoError(t, guarded.CheckWebhookURL("https://hooks.example.com/x"))

	_, err = c.SendWebhook(context.Background(), target, nil, "not-a-secret", "n-4")
	require.ErrorAs(t, err, &e)
	require.False(t, errors.Is(err, context.Canceled))
	require.Contains(t, err.Error(), "was not called: cannot sign it")
}
