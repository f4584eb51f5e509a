// Command mongo-healthcheck is the mongodb image's HEALTHCHECK: it speaks
// the MongoDB wire protocol to the local server, runs `ping` and then
// `listDatabases` (which reaches the storage backend), and exits non-zero
// on any failure. FerretDB's own `ferretdb ping` skips the check entirely
// when no setup database is configured, so it cannot serve as a probe.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// secret returns NAME, or the content of the file NAME_FILE points to, as
// the entrypoint does.
func secret(name string) string {
	if path := os.Getenv(name + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "read", name+"_FILE:", err)
			os.Exit(1)
		}
		return strings.TrimRight(string(b), "\r\n")
	}
	return os.Getenv(name)
}

func main() {
	u := &url.URL{Scheme: "mongodb", Host: env("MONGO_HEALTHCHECK_ADDR", "127.0.0.1:27017"), Path: "/"}
	q := url.Values{}
	q.Set("directConnection", "true")
	q.Set("serverSelectionTimeoutMS", "4000")
	if user := secret("MONGO_INITDB_ROOT_USERNAME"); user != "" {
		u.User = url.UserPassword(user, secret("MONGO_INITDB_ROOT_PASSWORD"))
		q.Set("authSource", "admin")
		q.Set("authMechanism", "SCRAM-SHA-256")
	}
	u.RawQuery = q.Encode()

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()

	client, err := mongo.Connect(ctx, options.Client().ApplyURI(u.String()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	// No Disconnect: it sends endSessions, which FerretDB 1.x logs as an
	// unknown-command warning on every probe; exiting closes the socket.

	if err = client.Ping(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, "ping:", err)
		os.Exit(1)
	}
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "listDatabases:", err)
		os.Exit(1)
	}
	fmt.Printf("ok: %d databases\n", len(names))
}
