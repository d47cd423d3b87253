module github.com/rapidbyte/rapidbyte/sdk

go 1.26.0

require github.com/google/go-cmp v0.7.0
