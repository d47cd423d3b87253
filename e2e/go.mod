module github.com/rapidbyte/rapidbyte/e2e

go 1.26.0
