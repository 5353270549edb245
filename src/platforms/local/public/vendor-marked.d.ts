// Types of /assets/vendor-marked.js (marked's browser ES module, served from node_modules by ../vendor.ts).
export * from 'marked';
