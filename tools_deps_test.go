package dindbundler_test

import (
	_ "github.com/docker/docker/api/types/build"
	_ "github.com/docker/docker/client"
	_ "github.com/docker/docker/pkg/jsonmessage"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/random"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/magefile/mage/mg"
	_ "github.com/matryer/is"
	_ "gopkg.in/yaml.v3"
)
