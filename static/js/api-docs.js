/* billdesk — starts Swagger UI on /api/docs. A file, not an inline script, so the
 * page's Content-Security-Policy can forbid inline scripts. */
(function () {
  "use strict";
  var container = document.getElementById("swagger-container");
  if (!container || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({
    url: container.getAttribute("data-openapi-url"),
    dom_id: "#swagger-container",
    deepLinking: true,
    validatorUrl: null, // no badge fetched from validator.swagger.io: the page stays offline
    showExtensions: true,
    showCommonExtensions: true,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
  });
})();
