using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace NirvanaCluster.Actors.Remoting;

/// <summary>
/// Listens for remoting connections with Kestrel's socket transport and hands each raw connection (no HTTP) to the
/// transport. The transport's input buffer is sized to hold the largest frame.
/// </summary>
internal sealed class KestrelListener : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KestrelListener(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    /// <summary>The port actually bound (the chosen one when 0 was asked for).</summary>
    public int Port { get; }

    public static async Task<KestrelListener> StartAsync(
        string bindHost, int port, long maxReadBufferBytes, Func<ConnectionContext, Task> onConnection, Serilog.ILogger log, CancellationToken cancellation)
    {
        var endpoint = new IPEndPoint(await ResolveAsync(bindHost, cancellation), port);
        ListenOptions? listen = null;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(KestrelListener).Assembly.GetName().Name });
        builder.Logging.AddProvider(new SerilogBridge(log));
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets(sockets => sockets.MaxReadBufferSize = maxReadBufferBytes);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBufferSize = maxReadBufferBytes;
            kestrel.Listen(endpoint, options =>
            {
                listen = options;
                options.Run(connection => onConnection(connection));
            });
        });
        var app = builder.Build();
        await app.StartAsync(cancellation);
        var bound = (listen?.EndPoint as IPEndPoint)?.Port ?? 0;
        if (bound == 0)
        {
            await app.DisposeAsync();
            throw new InvalidOperationException($"Kestrel did not report the port it bound on {bindHost}:{port}");
        }
        return new KestrelListener(app, bound);
    }

    public async ValueTask DisposeAsync()
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _app.StopAsync(grace.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }

    private static async Task<IPAddress> ResolveAsync(string host, CancellationToken cancellation)
    {
        if (IPAddress.TryParse(host, out var address))
            return address;
        var addresses = await Dns.GetHostAddressesAsync(host, cancellation);
        return addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new ArgumentException($"bind host '{host}' resolves to no address", nameof(host));
    }

    /// <summary>Kestrel's own warnings and errors, sent to Serilog; its chatter below Warning is dropped.</summary>
    private sealed class SerilogBridge(Serilog.ILogger log) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var level = logLevel >= LogLevel.Error ? Serilog.Events.LogEventLevel.Error : Serilog.Events.LogEventLevel.Warning;
            log.Write(level, exception, "Kestrel: {Message}", formatter(state, exception));
        }

        public void Dispose()
        {
        }
    }
}
