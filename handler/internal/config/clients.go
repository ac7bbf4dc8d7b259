package config

import (
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/xelwatch/xelwatch/handler/internal/azclient"
)

// TokenCredential returns the identity for an account reached without a
// connection string: the user-assigned managed identity named by
// <Connection>__clientId, else DefaultAzureCredential (system-assigned
// identity in Azure, the developer's login locally).
func (s Storage) TokenCredential() (azcore.TokenCredential, error) {
	if s.ClientID != "" {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(s.ClientID)})
		if err != nil {
			return nil, fmt.Errorf("config: %s managed identity: %w", s.Name, err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("config: %s default credential: %w", s.Name, err)
	}
	return cred, nil
}

// account is the account as package azclient, the one client builder of
// the process, takes it: with the connection string, or the service URIs
// and the identity, and the retry policy (Storage.Policy; zero: the
// production azclient.DefaultPolicy).
func (s Storage) account() azclient.Account {
	return azclient.Account{
		Name:             s.Name,
		ConnectionString: s.ConnectionString.Reveal(),
		BlobServiceURL:   s.BlobServiceURI,
		QueueServiceURL:  s.QueueServiceURI,
		TableServiceURL:  s.TableServiceURI,
		Credentials:      s.TokenCredential,
		Policy:           s.Policy,
	}
}

// setting maps azclient's missing-URL error to the setting to add.
func (s Storage) setting(err error, suffix string) error {
	if errors.Is(err, azclient.ErrMissingURL) {
		return fmt.Errorf("%w %s__%s: required without a connection string", errInvalid, s.Name, suffix)
	}
	return err
}

// BlobClient builds the account's blob service client.
func (s Storage) BlobClient() (*azblob.Client, error) {
	c, err := azclient.Blobs(s.account())
	return c, s.setting(err, "blobServiceUri")
}

// TableClient builds a client for one table of the account.
func (s Storage) TableClient(table string) (*aztables.Client, error) {
	svc, err := s.TableServiceClient()
	if err != nil {
		return nil, err
	}
	return svc.NewClient(table), nil
}

// TableServiceClient builds the account's table service client.
func (s Storage) TableServiceClient() (*aztables.ServiceClient, error) {
	c, err := azclient.Tables(s.account())
	return c, s.setting(err, "tableServiceUri")
}

// QueueServiceClient builds the account's queue service client.
func (s Storage) QueueServiceClient() (*azqueue.ServiceClient, error) {
	c, err := azclient.Queues(s.account())
	return c, s.setting(err, "queueServiceUri")
}
