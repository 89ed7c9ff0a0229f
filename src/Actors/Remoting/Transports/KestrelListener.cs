using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace NirvanaCluster.Actors.Remoting.Transports;

/// <summary>
/// Listens with Kestrel's socket transport (a raw connection delegate, no HTTP) and hands each connection to the
/// transport. Kept as a measured alternative to <see cref="SocketListener"/>: Kestrel's pipes receive in 4 KiB
/// blocks, which costs bulk tensor transfer about a factor of five on loopback. Its input buffer holds the largest frame.
/// </summary>
internal sealed class KestrelListener : IRemotingListener
{
    /// <summary>How far a writer may run ahead of the socket before FlushAsync waits; a few chunks keeps it busy.</summary>
    public const long WriteBufferBytes = 8L << 20;

    private readonly WebApplication _app;

    private KestrelListener(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    /// <summary>The port actually bound (the chosen one when 0 was asked for).</summary>
    public int Port { get; }

    public static async Task<KestrelListener> StartAsync(
        IPEndPoint endpoint, long maxReadBufferBytes, AcceptHandler onAccepted, RemotingTls? tls, Serilog.ILogger log, CancellationToken cancellation)
    {
        ListenOptions? listen = null;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(KestrelListener).Assembly.GetName().Name });
        builder.Logging.AddProvider(new SerilogBridge(log));
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets(sockets =>
        {
            sockets.MaxReadBufferSize = maxReadBufferBytes;
            sockets.MaxWriteBufferSize = WriteBufferBytes;
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBufferSize = maxReadBufferBytes;
            kestrel.Limits.MaxResponseBufferSize = WriteBufferBytes;
            kestrel.Listen(endpoint, options =>
            {
                listen = options;
                if (tls is not null)
                    options.UseHttps(tls.Certificate);
                options.Run(connection => onAccepted(new KestrelConnection(connection)));
            });
        });
        var app = builder.Build();
        await app.StartAsync(cancellation);
        var bound = (listen?.EndPoint as IPEndPoint)?.Port ?? 0;
        if (bound == 0)
        {
            await app.DisposeAsync();
            throw new InvalidOperationException($"Kestrel did not report the port it bound on {endpoint}");
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

    /// <summary>A Kestrel connection; Kestrel owns the socket and closes it (with FIN) when the handler returns.</summary>
    private sealed class KestrelConnection(ConnectionContext context) : ITransportConnection
    {
        public System.IO.Pipelines.IDuplexPipe Pipe => context.Transport;

        public string RemoteEndPoint => context.RemoteEndPoint?.ToString() ?? "unknown endpoint";

        public bool WaitsForWholeFrames => false;

        public ValueTask ShutdownSendAsync() => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
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
