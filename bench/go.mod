module github.com/rapidbyte/rapidbyte/bench

go 1.26.0
