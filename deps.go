//go:build tools

package tools

import (
	_ "github.com/go-viper/mapstructure/v2"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "github.com/valyala/fasthttp"
	_ "go.uber.org/zap"
	_ "go.yaml.in/yaml/v3"
)
