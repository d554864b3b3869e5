"""Tools a model may call: the built-in ones, MCP servers' and any another
package registers (``ToolRegistry.register``)."""
