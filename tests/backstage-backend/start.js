#!/usr/bin/env node
// Test helper: Backstage's own catalog backend, as a Backstage app's backend runs it
// (@backstage/backend-defaults + @backstage/plugin-catalog-backend, plus the Template kind
// from the scaffolder's catalog module), on the configuration passed with --config
// (tests/backstage_backend.py writes it: 127.0.0.1, a free port, in-memory SQLite).
//
// Test-only additions, in one catalog module:
// - `file` locations may be registered through the API (a Backstage instance allows only
//   `url` there; a test registers the catalog/all.yaml of its own temporary tree);
// - every processing error the engine reports (the catalog's own onProcessingError hook) is
//   recorded and served, so a test can show why an entity never appeared:
//   GET    /ecrctl-test/processing-errors  -> [{entityRef, location, errors: [..]}]
//   DELETE /ecrctl-test/processing-errors  -> forget them
// Everything else is the catalog's REST API under /api/catalog, behind Backstage's auth
// (a static external-access token from the configuration).
//
// It prints one line `ecrctl-backstage-ready` on stdout once the backend listens, and stops
// cleanly on SIGTERM or SIGINT (backend-defaults stops every plugin, then exits).

'use strict';

const { createBackend } = require('@backstage/backend-defaults');
const { coreServices, createBackendModule } = require('@backstage/backend-plugin-api');
const {
  catalogLocationsExtensionPoint,
  catalogProcessingExtensionPoint,
} = require('@backstage/plugin-catalog-node/alpha');
const express = require('express');

const processingErrors = [];

const processingErrorsModule = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'ecrctl-test-processing-errors',
  register(env) {
    env.registerInit({
      deps: {
        locations: catalogLocationsExtensionPoint,
        processing: catalogProcessingExtensionPoint,
        rootHttpRouter: coreServices.rootHttpRouter,
      },
      async init({ locations, processing, rootHttpRouter }) {
        locations.setAllowedLocationTypes(['url', 'file']);
        processing.setOnProcessingErrorHandler(({ unprocessedEntity, errors }) => {
          const metadata = unprocessedEntity.metadata || {};
          const annotations = metadata.annotations || {};
          processingErrors.push({
            entityRef: `${unprocessedEntity.kind}:${metadata.namespace || 'default'}/${metadata.name}`,
            location: annotations['backstage.io/managed-by-origin-location'] || null,
            errors: errors.map((e) => `${e.name}: ${e.message}`),
          });
        });
        const router = express.Router();
        router.get('/processing-errors', (_req, res) => res.json(processingErrors));
        router.delete('/processing-errors', (_req, res) => {
          processingErrors.length = 0;
          res.status(204).end();
        });
        rootHttpRouter.use('/ecrctl-test', router);
      },
    });
  },
});

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend').default);
backend.add(require('@backstage/plugin-catalog-backend-module-scaffolder-entity-model').default);
backend.add(processingErrorsModule);
backend.start().then(
  () => process.stdout.write('ecrctl-backstage-ready\n'),
  (error) => {
    process.stderr.write(`start.js: the backend did not start: ${error.stack || error}\n`);
    process.exit(1);
  },
);
