module github.com/drover-dev/drover/pkg/migrator

go 1.26.8
