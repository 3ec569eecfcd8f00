package testsupport_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
)

func TestRedisClient(t *testing.T) {
	client := testsupport.RedisClient(t)
	ctx := context.Background()
	require.NoError(t, client.Set(ctx, "k", "v", 0).Err())
	require.Equal(t, "v", client.Get(ctx, "k").Val())
	// No persistence: the server was started with an empty save list and without AOF.
	cfg, err := client.ConfigGet(ctx, "save").Result()
	require.NoError(t, err)
	require.Equal(t, "", cfg["save"])
	require.Equal(t, "no", client.ConfigGet(ctx, "appendonly").Val()["appendonly"])
}
