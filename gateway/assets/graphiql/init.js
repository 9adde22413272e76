// Starts GraphiQL on the page the gateway serves at GET /graphql (gateway/src/graphiql.rs).
// Ours, not vendored: a file rather than an inline script, so the page's Content-Security-Policy
// can allow scripts from 'self' only.
(function () {
  'use strict';
  var endpoint = new URL('/graphql', window.location.href);
  var subscriptions = new URL(endpoint.href);
  subscriptions.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';
  // GraphiQL's own fetcher (@graphiql/toolkit's createGraphiQLFetcher, bundled in the UMD
  // build): queries and mutations over HTTP POST, subscriptions (graphql-ws, also bundled)
  // over a WebSocket opened only when a subscription runs.
  var fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: subscriptions.href });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      // The headers editor, open under the query editor from the start; headers are not kept
      // in localStorage (they often carry credentials).
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    }),
  );
})();
